"""The four lifecycle sequences: spec (sequences.yaml), starter, step task, win-back job and their pure logic."""
