"""The figures of posts/2024-02-02-blog-post-2.md and the code only they use."""
