"""Every Slack id the app answers to, in one place: slash commands, action ids, view callback
ids and events. The manifest test checks manifest.yml against what is registered."""

from __future__ import annotations

# Slash commands
COST = "/cost"
BUDGET = "/budget"
FINOPS = "/finops"

# Block actions (buttons)
BUDGET_NEW = "budget_new"
BUDGET_EDIT = "budget_edit"
BUDGET_SHOW = "budget_show"

# View submissions (modals)
BUDGET_MODAL = "budget_modal"

# Events
APP_HOME_OPENED = "app_home_opened"
