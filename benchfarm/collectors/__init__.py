"""benchfarm.collectors"""
