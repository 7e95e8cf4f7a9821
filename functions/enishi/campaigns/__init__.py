"""Campaigns: one-off or scheduled sends to a segment, declared as files beside ``sequences.yaml``."""
