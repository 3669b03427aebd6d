"""The studies, as stored stages: the dense networks and references, ticket cells, how a
trained network is judged, the search over seeds, the pilot and the registration, the
confirmatory study, its sensitivity analyses and the tickets' structure. Imports ``measures``
and below."""
