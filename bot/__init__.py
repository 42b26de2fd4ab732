"""The WeChat official-account bot: push protocol, dialogue, intents, replies."""
