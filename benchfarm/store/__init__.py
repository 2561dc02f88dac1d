"""benchfarm.store"""
