"""The four lifecycle sequences (welcome, cart recovery, shipping notice, win-back), split by job.

- ``starter/``  SequenceStarter λ: canonical events (SQS) → start / stop executions, park what must wait.
- ``step/``     SequenceStep λ: one step of an execution (Step Functions task) → send, skip, defer or stop.
- ``winback/``  Winback λ: the daily job that starts win-back for dormant customers.
  Each is ``handler.py`` (thin: ``bootstrap.container`` + metrics) over ``service.py`` (the story of one call).
- ``domain/``   the rules, pure: the spec (sequences.yaml), eligibility, quiet hours, the cap, ledger and parking
  rules, the opt-out check, what to start for an event (``starting.PLANNERS``), win-back's dormant customers,
  a step's verdicts and result, and the ports' message types (``messages.py``).
- ``adapters/`` I/O: DynamoDB (``store``, ``ledger``, ``winback``), Step Functions (``executions``), the channels
  (``delivery``) and the message composer (``messages``: template context + opt-out link).
- ``settings.py`` the environment of the two functions that start executions.

Imports go down only: handler → service → domain / adapters; adapters → domain; domain imports neither.
"""
