"""The command line: thin commands that parse, validate, call the API and print."""
