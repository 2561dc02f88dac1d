"""benchfarm.images"""
