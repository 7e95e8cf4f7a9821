"""The LINE monthly-quota check: a scheduled function publishes how much of this month's quota is used."""
