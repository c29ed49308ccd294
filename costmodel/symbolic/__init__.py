"""The model's cost as a formula of its input sizes: symbolic shapes through the same rule table."""
