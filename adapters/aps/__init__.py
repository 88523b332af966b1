"""APS Practice Management: the ClientSystem port over the practice's SQL database, driven by config/aps.yaml."""
