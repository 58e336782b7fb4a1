"""The risk gate: the one door every order intent passes."""
