"""Policy checks of Terraform plans (the PR gate): tag rules and cost rules."""
