"""Channels: render a message (Jinja2 templates, email and LINE) and deliver it (SES v2, LINE push).

``render`` and ``context`` are pure; ``email`` wraps an injected SES v2 client; ``line`` is a thin urllib client.
"""
