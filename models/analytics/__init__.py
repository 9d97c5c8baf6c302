"""Analytics over the alert path's record: windows of counts and duration sketches,
SLA compliance and recommendations, all pure (``agents/analytics.py`` feeds them)."""
