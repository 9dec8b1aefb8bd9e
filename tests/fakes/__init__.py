"""Local fakes of the outside services finops-bot talks to (DESIGN.md: fake only what is outside)."""
