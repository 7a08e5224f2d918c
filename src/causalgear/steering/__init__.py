"""Steering: integrated-gradient attributions, GrAInS embedding perturbation, additive steering."""
