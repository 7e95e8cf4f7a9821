"""Project scripts run by the Makefile (the gates of `make lint`)."""
