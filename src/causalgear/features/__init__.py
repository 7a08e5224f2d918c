"""Which SAE latents mean something: detection of known concepts, references and a feature page."""
