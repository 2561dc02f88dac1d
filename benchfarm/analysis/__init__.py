"""benchfarm.analysis"""
