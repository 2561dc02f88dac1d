"""benchfarm.api"""
