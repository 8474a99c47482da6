"""Stages as the user runs them: per-shard workers plus the drivers that plan, resume and
summarise them. Engines run the workers; algorithm code lives in match/, counting, balance/."""
