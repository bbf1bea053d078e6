"""vireid.data"""
