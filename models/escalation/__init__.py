"""Escalation: policies as a state machine, who a step pages, signed action links."""
