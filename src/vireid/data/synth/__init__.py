"""vireid.data.synth"""
