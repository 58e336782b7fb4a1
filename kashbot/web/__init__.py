"""The operator's status page, served by the control endpoint (:mod:`kashbot.app.control`)."""
