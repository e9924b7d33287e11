"""Set a project up: workspace, label schema and guideline versions, status."""
