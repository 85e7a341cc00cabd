"""`grade release`: the student kit. Written in full later in this file's history."""
