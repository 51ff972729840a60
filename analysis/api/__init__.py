"""Stage 7: the REST query API (and, later, the web console) over the analysis layer."""
