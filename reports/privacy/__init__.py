"""Privacy operations for the controller's instructions (GDPR Art. 15, 17, 28, 30): the data subject, export,
erasure and the processing log. Domain code: it reads and writes the data root and never imports Dagster; the
command line (pipelines/commands/privacy.py) rebuilds what an operation changed through the Dagster definitions."""
