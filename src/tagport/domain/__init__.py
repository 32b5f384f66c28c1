"""The domain: names, rules, states and configuration objects. No I/O lives here."""
