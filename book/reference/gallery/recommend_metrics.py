# Recommend with a Mult-VAE and score its rankings per held-out user: Recall@k and NDCG@k,
# the clicks the model was given left out of the ranking.
import numpy as np

from snippets import KLWarmup
from snippets.applications import build_mult_vae, ndcg_at_k, popularity_recommender, recall_at_k

rng = np.random.default_rng(0)
group = rng.integers(4, size=600)  # four kinds of users, each fond of its own 25 of 100 items
fondness = np.where(np.arange(100) // 25 == group[:, None], 0.3, 0.02)
clicks = (rng.random((600, 100)) < fondness).astype("float32")
train, users = clicks[:500], clicks[500:][clicks[500:].sum(axis=1) >= 2]
given = users * (rng.random(users.shape) < 0.5)  # what each held-out user shows the model
hidden = users - given  # what it must find
users_to_score = hidden.sum(axis=1) > 0
given, hidden = given[users_to_score], hidden[users_to_score]
model = build_mult_vae(n_items=100, hidden_units=(64,), latent_dim=8, seed=0)
model.compile(optimizer="adam")
warmup = KLWarmup(warmup_epochs=10, final_beta=0.2)
model.fit(train, epochs=20, batch_size=50, callbacks=[warmup], verbose=0)
rankings = {"Mult-VAE": model.reconstruct(given), "popularity": popularity_recommender(train)(given)}
for name, scores in rankings.items():
    recall = recall_at_k(scores, hidden, 10, exclude=given).mean()
    ndcg = ndcg_at_k(scores, hidden, 20, exclude=given).mean()
    print(f"{name}: Recall@10 {recall:.3f}, NDCG@20 {ndcg:.3f}")
