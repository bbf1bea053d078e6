"""vireid.data.datasets"""
