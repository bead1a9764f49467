# HAFrame Studio: serves the app on port 8501. Mount a volume on /app/checkpoints to keep runs.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY .streamlit .streamlit
COPY assets assets
COPY core core
COPY app app
# plotly.js for the live charts (app/live_chart.py), served from app/static/ by Streamlit
RUN python -c "from app.live_chart import install_plotly_js; install_plotly_js()"
# UMAP's numba compiles, made once here and kept on disk beside umap's sources (app/projector.py, _umap): the
# server's first UMAP layout then waits for 14 s of compiling instead of 48
RUN NUMBA_NUM_THREADS=1 python -W ignore -c "from app.projector import warm_up; warm_up()"
RUN mkdir -p checkpoints
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).status != 200)"
# 0.0.0.0 inside the container only; publish it on the host deliberately, e.g. -p 127.0.0.1:8501:8501, and put an
# authenticating reverse proxy in front for anyone else (README: "Running the app for a group").
CMD ["python", "-m", "streamlit", "run", "app/main.py", "--server.port=8501", "--server.address=0.0.0.0"]
