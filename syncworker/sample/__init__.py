"""Sample practices: fake clients seen from both sides (local records and XPM), with the answer key.
Used to seed the XPM simulator and to produce the matching local CSV for demos and tests."""

from syncworker.sample.generator import SamplePractice, generate_practice

__all__ = ["SamplePractice", "generate_practice"]
