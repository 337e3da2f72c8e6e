"""The configuration API: DRF serializers, filtersets, viewsets and their URLs."""
