"""What the collector and the analysis both need and neither owns: how a time or a duration is
written on a command line, and the options every command shares. Imports nothing of either package,
so both may import it without tying the data flow into a loop."""
