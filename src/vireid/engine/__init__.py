"""vireid.engine"""
