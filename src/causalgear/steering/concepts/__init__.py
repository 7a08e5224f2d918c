"""Concept steering: a target over the registered steering methods that forces a value of one SQL
component (`steer.concept_steering`), judged by execution and the component parser (`judges`), at
every position or at the words that say the value (`spans`); a trained method fits the selection
prompts' gold SQL with the value forced in (`forced`)."""
