"""`synth-pipeline init`: a new release spec from a table, with a TODO for every decision left to its author."""
