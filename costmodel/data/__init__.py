"""Published figures the tool ships, each with its source."""
