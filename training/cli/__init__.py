"""The ``alsstrat`` command line: ``app`` wires the command modules; ``common`` holds the consoles, exit codes
and error mapping every command shares."""
