"""The command line: thin Typer commands over the pipeline and stores."""
