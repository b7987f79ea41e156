"""padctl: host tool, virtual card and PSAM, simulated slots for the social-security PIN pad."""
