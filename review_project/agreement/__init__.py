"""Agreement between the reviewers: can the lead trust the ratings?"""
