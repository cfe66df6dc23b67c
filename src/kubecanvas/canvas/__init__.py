"""The Workflow document: its model, validation and compilation to a task graph."""
