"""enishi on a laptop: moto in place of AWS, the real handlers in-process, a fake LINE API and one virtual clock."""
