"""benchfarm.spec"""
