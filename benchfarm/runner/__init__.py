"""benchfarm.runner"""
